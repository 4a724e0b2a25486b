"""The host side of a volume attach, through os-brick, as Nova's libvirt volume drivers do.

- ``connector_properties()``: what Cinder is told about this host.
- ``connector_for(connection_info)``: one ``HostConnector`` per
  ``driver_volume_type``. Block protocols (iSCSI, iSER, FC, NVMe-oF, local)
  are connected by os-brick's ``connect_volume``, which returns the host
  device path the disk XML uses; protocols libvirt reaches itself (rbd) need
  no host connection.
- ``release_host_connection(record)``: disconnect what a device record holds,
  for ``blockflow delete``.
"""

import abc
import contextlib
import functools
import os
import platform
import socket
import threading

from blockflow import exceptions
from blockflow import secrets
from blockflow import statedir

_PROBE_LOCK = threading.Lock()
_BRICK_LOCK = threading.Lock()
# os-brick's protocol names (os_brick.initiator.ISCSI, ...), written out: importing
# os-brick costs a third of a second, paid only where a volume is connected or
# the host probed (tests/hypervisor/test_connector_names.py keeps them equal).
BRICK_PROTOCOLS = ('ISCSI', 'ISER', 'FIBRE_CHANNEL', 'NVMEOF', 'LOCAL', 'RBD')
# Cinder's driver_volume_type is os-brick's protocol name, lower case.
ISCSI, ISER, FIBRE_CHANNEL, NVMEOF, LOCAL, RBD = (p.lower() for p in BRICK_PROTOCOLS)


class UnsupportedVolumeType(exceptions.BlockflowError):
    msg_fmt = ('connection_info.driver_volume_type %(type)s is not supported; '
               'known types: %(known)s')
    http_status = 400


class HostConnectionError(exceptions.BlockflowError):
    msg_fmt = 'os-brick could not %(action)s %(type)s volume %(volume)s: %(reason)s'
    http_status = 500


def connector_properties():
    """os-brick's get_connector_properties, probed once per process.

    The probe runs external commands (iscsi, nvme, ...) for about half a
    second; parallel devices asking at once must not each run it.
    """
    with _PROBE_LOCK:
        return dict(_probe())


_PREFETCH = []


def prefetch():
    """Probe in the background, so a later connector_properties() finds it done
    (once per process: later calls find the probe started)."""
    with _PROBE_LOCK:
        if _PREFETCH or _probe.cache_info().currsize:
            return
        thread = threading.Thread(target=connector_properties, daemon=True,
                                  name='blockflow-connector-probe')
        _PREFETCH.append(thread)
    thread.start()


def _default_lock_path():
    return statedir.state_path('locks')


@functools.lru_cache(maxsize=1)
def _prepare_brick():
    """Run os-brick in process when root, give its file locks a home, and
    call os_brick.setup as a service does at start (Nova's compute does).

    os-brick's connect_volume and guard_connection take oslo.concurrency
    external locks, which refuse to work without a lock_path.
    """
    from blockflow import threads
    threads.use_os_threads()    # os-brick's oslo.service: the threading backend
    import os_brick
    from oslo_concurrency import lockutils  # noqa: F401 (registers [oslo_concurrency])
    from oslo_config import cfg
    from os_brick import privileged
    if os.geteuid() == 0:
        # No sudo/privsep-helper needed when already root (platform-facts.md).
        privileged.default.set_client_mode(False)
    if not (os.environ.get('OSLO_LOCK_PATH') or cfg.CONF.oslo_concurrency.lock_path):
        path = _default_lock_path()
        os.makedirs(path, mode=0o700, exist_ok=True)
        # On the ConfigOpts, not the option (lockutils.set_defaults): a value
        # read before stays cached otherwise.
        cfg.CONF.set_default('lock_path', path, group='oslo_concurrency')
    os_brick.setup(cfg.CONF)


@functools.lru_cache(maxsize=1)
def _probe():
    try:
        _prepare_brick()
        from os_brick.initiator import connector
        props = connector.get_connector_properties(
            root_helper=None, my_ip='127.0.0.1', multipath=False,
            enforce_multipath=False, host=socket.gethostname())
    except Exception:  # os-brick cannot probe this host: the minimal connector
        props = {'platform': platform.machine(), 'os_type': 'linux', 'ip': '127.0.0.1',
                 'host': socket.gethostname(), 'multipath': False,
                 'do_local_attach': False}
    return dict(props)


def _data(connection_info):
    return dict((connection_info or {}).get('data') or {})


def _first_line_masked(exc, data):
    """The error in one line, with no secret of ``data`` (nor any other) in it."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for key, value in data.items():
        if isinstance(value, str) and value and secrets.mask({key: value})[key] != value:
            text = text.replace(value, secrets.MASK)
    return secrets.mask_text(text)


class HostConnector(abc.ABC):
    """How this host reaches one kind of volume: the contract for every
    ``driver_volume_type`` (Nova's LibvirtBaseVolumeDriver connect/disconnect)."""

    volume_types = ()
    # Whether Cinder may export several volumes through one target, so that
    # os-brick's guard_connection must serialise this host's scans and logouts.
    shares_targets = False

    @abc.abstractmethod
    def connect(self, connection_info):
        """Attach the volume to this host; the device info (``path``) or None."""

    @abc.abstractmethod
    def disconnect(self, connection_info, device_info):
        """Detach it from this host; ``device_info`` is what connect returned."""

    @abc.abstractmethod
    def is_connected(self, connection_info):
        """Whether the volume is attached to this host, found by its identity
        (the connection properties), for when connect's result was lost."""

    def needs_secrets(self, connection_info):
        """Whether connect needs secrets the stored connection_info lacks."""
        return False


class LibvirtReachable(HostConnector):
    """rbd: QEMU opens the volume itself (librbd); nothing to connect on the host."""

    volume_types = (RBD,)

    def connect(self, connection_info):
        return None

    def disconnect(self, connection_info, device_info):
        return None

    def is_connected(self, connection_info):
        return False


class BrickConnector(HostConnector):
    """os-brick's connector for ``protocol`` attaches the volume to this host
    and hands back the block device (or file) path libvirt is given."""

    def __init__(self, protocol, shares_targets=True):
        self.protocol = protocol
        self.volume_types = (protocol.lower(),)
        self.shares_targets = shares_targets
        self._connector = None

    @property
    def brick(self):
        with _BRICK_LOCK:
            if self._connector is None:
                _prepare_brick()
                from os_brick import initiator
                from os_brick.initiator import connector
                self._connector = connector.InitiatorConnector.factory(
                    self.protocol, None, use_multipath=False,
                    device_scan_attempts=initiator.DEVICE_SCAN_ATTEMPTS_DEFAULT)
            return self._connector

    def _fail(self, action, connection_info, exc):
        data = _data(connection_info)
        return HostConnectionError(action=action, type=self.volume_types[0],
                                   volume=connection_info.get('serial') or
                                   data.get('volume_id') or '?',
                                   reason=_first_line_masked(exc, data))

    def connect(self, connection_info):
        try:
            device_info = self.brick.connect_volume(_data(connection_info))
        except Exception as exc:
            raise self._fail('connect', connection_info, exc) from None
        if not (device_info or {}).get('path'):
            raise self._fail('connect', connection_info, 'no device path returned')
        return dict(device_info)

    def disconnect(self, connection_info, device_info):
        data = _data(connection_info)
        if device_info and device_info.get('path'):
            # As Nova does: os-brick finds the device to remove by this path.
            data['device_path'] = device_info['path']
        try:
            self.brick.disconnect_volume(data, device_info)
        except Exception as exc:
            raise self._fail('disconnect', connection_info, exc) from None

    def is_connected(self, connection_info):
        try:
            paths = self.brick.get_volume_paths(_data(connection_info))
        except Exception:
            # Cannot tell (no initiator tools, ...): os-brick's disconnect of a
            # volume that is not connected is harmless, so say yes.
            return True
        return any(os.path.exists(path) for path in paths)

    def needs_secrets(self, connection_info):
        return secrets.MASK in _data(connection_info).values()


_CONNECTORS = {kind: connector for connector in (
    BrickConnector('ISCSI'), BrickConnector('ISER'),
    BrickConnector('FIBRE_CHANNEL'), BrickConnector('NVMEOF'),
    BrickConnector('LOCAL', shares_targets=False), LibvirtReachable())
    for kind in connector.volume_types}
VOLUME_TYPES = frozenset(_CONNECTORS)


def connector_for(connection_info):
    """The HostConnector for the connection_info's driver_volume_type."""
    kind = (connection_info or {}).get('driver_volume_type')
    try:
        return _CONNECTORS[kind]
    except (KeyError, TypeError):
        raise UnsupportedVolumeType(type=kind, known=', '.join(sorted(_CONNECTORS)))


@contextlib.contextmanager
def guard(connector, volume):
    """os-brick's guard_connection for protocols with shared targets.

    ``volume`` is Cinder's volume (``shared_targets``, ``service_uuid``, API
    3.48+; tri-state from 3.69); None when not asked (no shared targets).
    """
    if not connector.shares_targets or volume is None:
        yield
        return
    _prepare_brick()
    from os_brick.initiator import utils as brick_utils
    with brick_utils.guard_connection({
            'shared_targets': getattr(volume, 'shared_targets', False),
            'service_uuid': getattr(volume, 'service_uuid', None)}):
        yield


def shared_on_this_host(volume, instance_uuid):
    """Nova's _should_disconnect_target, inverted: another server on this host
    still uses this multiattach volume (its attachment has our host or none)."""
    host = connector_properties().get('host')
    return any(a.get('server_id') != instance_uuid and a.get('host_name') in (None, host)
               for a in (getattr(volume, 'attachments', None) or []))


LOST = object()


def release(connection_info, device_info=LOST, volume=None, instance_uuid=None):
    """Disconnect a volume from this host; True if os-brick was asked to.

    ``device_info`` is what connect returned (None: nothing was connected);
    ``LOST`` when that was not saved: the connection is then looked up by its
    identity. ``volume`` (Cinder's, optional) enables the shared-target guard
    and, for a multiattach volume, keeps a connection another server on this
    host still uses. Raises HostConnectionError / UnsupportedVolumeType.
    """
    connector = connector_for(connection_info)
    if device_info is None:
        return False
    if device_info is LOST:
        if not connector.is_connected(connection_info):
            return False
        device_info = None
    if (connection_info.get('multiattach') and volume is not None
            and shared_on_this_host(volume, instance_uuid)):
        return False
    with guard(connector, volume):
        connector.disconnect(connection_info, device_info)
    return True


def release_host_connection(record, host_device=LOST, volume=None):
    """For ``blockflow delete``: disconnect the volume of a device record
    (a row with ``connection_info``) from this host. Without the attach step's
    ``host_device`` the connection is found by its identity. Raises on failure
    (HostConnectionError) so the caller can collect it; False if nothing to do."""
    info = record.get('connection_info') if isinstance(record, dict) else None
    if not info or not record.get('volume_id'):
        return False
    return release(info, host_device, volume=volume,
                   instance_uuid=record.get('instance_uuid'))
