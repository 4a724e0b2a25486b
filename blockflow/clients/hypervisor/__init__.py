"""The compute host side: disk XML from Cinder connection_info, libvirt domains, os-brick."""


def warm_up(libvirt_uri=None):
    """Start what only a flow's host steps need (os-brick's import and connector
    probe, the libvirt connection) in the background, so that it overlaps the
    cloud round trips that come first instead of sitting on the flow's path."""
    from blockflow.clients.hypervisor import connectors
    from blockflow.clients.hypervisor import domain
    connectors.prefetch()
    domain.prefetch(libvirt_uri)
