"""The compute host side: disk XML from Cinder connection_info, libvirt domains."""
