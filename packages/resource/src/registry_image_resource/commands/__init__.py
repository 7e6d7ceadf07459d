"""The three commands of the resource, one package each: ``check``, ``get`` (``in``), ``put`` (``out``).

Each package holds its own request models (``request.py``) and everything only it uses. This
``__init__`` imports nothing, so that running ``check`` (every minute per pipeline) never loads
``get``'s or ``put``'s code.
"""
