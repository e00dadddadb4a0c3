"""The multi-host test's machinery (tests/test_multihost.py): network namespaces on a private
bridge as hosts, a TCP forwarder that lets them reach this machine's loopback-only services, and
the portal's processes started inside them."""
