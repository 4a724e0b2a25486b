"""Options of the engine area."""


def register_opts(conf):
    pass


def list_opts():
    return []
