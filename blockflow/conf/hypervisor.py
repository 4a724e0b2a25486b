"""Options of the hypervisor and local-disk area."""


def register_opts(conf):
    pass


def list_opts():
    return []
