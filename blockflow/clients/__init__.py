"""What blockflow talks to: Cinder and Glance sessions and the cloud they
come from, the hypervisor (libvirt, os-brick), local disks, the status poller."""
