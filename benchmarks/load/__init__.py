"""The concurrency benchmark behind `python manage.py benchmark_load` (docs/benchmarks/load.md).

It talks to a server over HTTP exactly as an API client would, so what it measures includes
request parsing, the database and whatever the server does inside the upload request. The
benchmark accounts are made through the project's services in the same database, never through
the login endpoints, whose throttles and lockouts exist to stop exactly this many logins from one
address.

Modules, bottom up: `options` (checks and bounds), `records` (what one request or job left),
`report` (the figures and their text), `client` (the HTTP client, standard library only),
`traffic` (the upload and polling loops), `users` (the benchmark accounts), `run` (one run start
to end).
"""
