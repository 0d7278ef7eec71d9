//! Ceph's crc32c flavour, AES-128-GCM secure mode, and pre-auth signatures.
