"""What ``out`` can push, read into a ``tree.ManifestNode`` tree before any request is made:
``docker save`` tarballs (``docker_archive``) and OCI layouts as directories or tarballs
(``oci_layout``), with the tar member index (``tar_index``) and document validation
(``documents``) they share.
"""
