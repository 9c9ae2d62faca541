"""The ssl API served over distribution (see service.py)."""


def install(node):
    from .service import install as _install
    return _install(node)
