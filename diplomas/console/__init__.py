"""The office's web console at /admin: server-rendered pages (Jinja2) with htmx served
by the app, over the same service layer as the API and the CLI."""
