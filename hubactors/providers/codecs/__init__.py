"""Wire codecs: pure functions between the common model and one wire format each.

A codec does no I/O and imports no trio, httpx or httpcore (the import contracts check it):
one sub-package per wire format, registered in :mod:`hubactors.providers._registry`.
"""
