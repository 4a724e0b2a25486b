"""TaskFlow tasks, grouped by the system they touch (Cinder, libvirt, local disk, records)."""
