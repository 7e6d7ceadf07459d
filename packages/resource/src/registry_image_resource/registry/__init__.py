"""The registry client shared by check, in and out (see ``client.py`` for the API).

Nothing is imported here so that importing a submodule stays cheap.
"""
