"""The request layer: a POST /servers body checked as Nova checks it, the
devices named and classified. Pure: no TaskFlow, no clients, no libvirt."""
