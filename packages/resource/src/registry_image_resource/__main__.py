"""``python -m registry_image_resource check|in DEST|out SRC``."""

from registry_image_resource.entry import entry

entry()
