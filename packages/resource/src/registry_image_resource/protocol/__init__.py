"""The resource protocol's data: the shared request models (``models``), the wire rules that decode
and validate the JSON request (``decoding``), the ``source`` object every command shares and
the secrets it carries (``source``), the platform a request wants (``platform``), RE2
patterns (``regex``), and Go-style JSON for what the resource writes (``go_json``).

Each command's own request and params live with the command (``commands/<name>/request.py``).
"""
