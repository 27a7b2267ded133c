"""The application service: what every view (the CLI, the chat page, the API, the evaluation)
calls. `app.App` (everything a view can do over one settings), `library.Library` (the
collections), `keys.KeyStore` (API keys), `discovery` (the servers running on this machine),
`model_admin` (the model files), `info` (what the views are given to show)."""
