"""Options of the cloud area."""


def register_opts(conf):
    pass


def list_opts():
    return []
