"""Where a command's requests really go: the mirror-then-origin routing (``routing``) and the cloud
registries whose credentials come from elsewhere (``ecr`` for AWS, ``acr`` for Azure).
"""
