"""The ssl API served over distribution (see service.py)."""


def install(node, **kw):
    from .service import install as _install
    return _install(node, **kw)
