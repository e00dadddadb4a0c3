"""The portal's settings, one module per environment (DJANGO_SETTINGS_MODULE names one):

  base         everything the environments share, read from the environment; it reads
    env        BASE_DIR, DATA_DIR and the env_bool/env_int/env_list readers, and
    product    upload limits, key costs and lockouts, jobs, quotas, the learned codec
  development  `make run`, manage.py, the workers: local defaults, generated keys (the default)
  production   required secrets and host names, HTTPS only (deploy/, docs/deploy.md)
  test         the suite (pytest.ini): fast hashing, minimal Argon2 costs, jobs run eagerly
"""
