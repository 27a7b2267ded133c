"""The one web server (`serve.serve`): the chat page, the source routes and the API, together."""
