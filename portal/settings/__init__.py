"""The portal's settings, one module per environment (DJANGO_SETTINGS_MODULE names one):

  base         everything the environments share, read from the environment
  development  `make run`, manage.py, the workers: local defaults, generated keys (the default)
  production   required secrets and host names, HTTPS only (deploy/, docs/deploy.md)
  test         the suite (pytest.ini): fast hashing, minimal Argon2 costs, jobs run eagerly
"""
