"""Errors blockflow reports, named and worded as Nova 34 names and words them.

A rejected request must tell the user the same thing Nova would: the exception
class, its message and the HTTP status the compute API answers with. Each class
below carries Nova's ``msg_fmt`` and the status ``servers.py`` maps it to (every
BDM error is a 400 there, except the two 403s).

Where Nova itself breaks (a 500 on a uuid without source_type, the lost text of
InvalidBDMDiskBus) blockflow keeps Nova's class and gives a precise message.
"""


class BlockflowError(Exception):
    """Base of every error blockflow raises on purpose."""

    msg_fmt = 'An unknown error occurred.'
    http_status = 500

    def __init__(self, message=None, **kwargs):
        self.kwargs = kwargs
        if message is None:
            try:
                message = self.msg_fmt % kwargs
            except (KeyError, TypeError, ValueError):
                message = self.msg_fmt
        self.message = message
        super().__init__(message)

    @property
    def error_class(self):
        return type(self).__name__

    def to_dict(self):
        return {'error': {'class': self.error_class,
                          'message': self.message,
                          'http_status': self.http_status}}


class UsageError(BlockflowError):
    """The command line or an input file is unusable (not a Nova verdict)."""

    http_status = 400


class RequestFormatError(BlockflowError):
    """The request file is not JSON of the shape POST /servers takes."""

    msg_fmt = 'Invalid request body: %(reason)s'
    http_status = 400


# --- webob.exc equivalents raised directly by the servers controller -------

class HTTPBadRequest(BlockflowError):
    msg_fmt = '%(explanation)s'
    http_status = 400


class ValidationError(BlockflowError):
    """JSON-schema rejection (nova.exception.ValidationError, 400)."""

    msg_fmt = '%(detail)s'
    http_status = 400


class Forbidden(BlockflowError):
    msg_fmt = 'Forbidden'
    http_status = 403


# --- nova.exception classes ---------------------------------------------------

class Invalid(BlockflowError):
    msg_fmt = 'Bad Request - Invalid Parameters'
    http_status = 400


class InvalidRequest(Invalid):
    msg_fmt = 'The request is invalid.'


class InvalidBDM(Invalid):
    msg_fmt = 'Block Device Mapping is Invalid.'


class InvalidBDMSnapshot(InvalidBDM):
    msg_fmt = ('Block Device Mapping is Invalid: '
               'failed to get snapshot %(id)s.')


class InvalidBDMVolume(InvalidBDM):
    msg_fmt = ('Block Device Mapping is Invalid: '
               'failed to get volume %(id)s.')


class InvalidBDMVolumeNotBootable(InvalidBDM):
    msg_fmt = 'Block Device %(id)s is not bootable.'


class InvalidBDMImage(InvalidBDM):
    msg_fmt = ('Block Device Mapping is Invalid: '
               'failed to get image %(id)s.')


class InvalidBDMBootSequence(InvalidBDM):
    msg_fmt = ('Block Device Mapping is Invalid: '
               'Boot sequence for the instance '
               'and image/block device mapping '
               'combination is not valid.')


class InvalidBDMLocalsLimit(InvalidBDM):
    msg_fmt = ('Block Device Mapping is Invalid: '
               'You specified more local devices than the '
               'limit allows')


class InvalidBDMEphemeralSize(InvalidBDM):
    msg_fmt = ('Ephemeral disks requested are larger than '
               'the instance type allows. If no size is given '
               'in one block device mapping, flavor ephemeral '
               'size will be used.')


class InvalidBDMSwapSize(InvalidBDM):
    msg_fmt = 'Swap drive requested is larger than instance type allows.'


class InvalidBDMFormat(InvalidBDM):
    msg_fmt = 'Block Device Mapping is Invalid: %(details)s'


class InvalidBDMDiskBus(InvalidBDM):
    # Nova's class spells this attribute msg_fmr, so users only ever see the
    # parent's text; blockflow keeps the class and says what is wrong.
    msg_fmt = ('Block Device Mapping is Invalid: Unable to find a suitable '
               'disk bus for device with disk_bus %(disk_bus)s. Valid values '
               'are: %(valid)s.')


class InvalidDeviceType(InvalidBDM):
    """Nova fails with a 500 on an unknown device_type; blockflow says 400."""

    msg_fmt = ('Block Device Mapping is Invalid: device_type %(device_type)s '
               'is not one of %(valid)s.')


class VolumeSmallerThanMinDisk(InvalidBDM):
    msg_fmt = ('Volume is smaller than the minimum size specified in image '
               'metadata. Volume size is %(volume_size)i bytes, minimum '
               'size is %(image_min_disk)i bytes.')


class FlavorDiskTooSmall(Invalid):
    msg_fmt = 'The created instance\'s disk would be too small.'


class FlavorDiskSmallerThanImage(FlavorDiskTooSmall):
    msg_fmt = ('Flavor\'s disk is too small for requested image. Flavor disk '
               'is %(flavor_size)i bytes, image is %(image_size)i bytes.')


class FlavorDiskSmallerThanMinDisk(FlavorDiskTooSmall):
    msg_fmt = ('Flavor\'s disk is smaller than the minimum size specified in '
               'image metadata. Flavor disk is %(flavor_size)i bytes, '
               'minimum size is %(image_min_disk)i bytes.')


class FlavorMemoryTooSmall(Invalid):
    msg_fmt = 'Flavor\'s memory is too small for requested image.'


class BootFromVolumeRequiredForZeroDiskFlavor(BlockflowError):
    msg_fmt = ('Only volume-backed servers are allowed for flavors with '
               'zero disk.')
    http_status = 403


class MismatchVolumeAZException(Invalid):
    msg_fmt = ('The availability zone between the server and its attached '
               'volumes do not match: %(reason)s.')


class VolumeTypeNotFound(Invalid):
    # NotFound in Nova, but servers.py create maps it to 400.
    msg_fmt = 'Volume type %(id_or_name)s could not be found.'


class FlavorNotFound(Invalid):
    msg_fmt = 'Flavor %(flavor_id)s could not be found.'


class ImageNotFound(Invalid):
    msg_fmt = 'Image %(image_id)s could not be found.'


class ImageNotActive(Invalid):
    msg_fmt = 'Image %(image_id)s is not active.'


class InvalidVolume(Invalid):
    msg_fmt = 'Invalid volume: %(reason)s'


class ImageUnacceptable(Invalid):
    msg_fmt = 'Image %(image_id)s is unacceptable: %(reason)s'


# NotFound (404) in Nova; servers.py create maps both to 400.
class VolumeNotFound(Invalid):
    msg_fmt = 'Volume %(volume_id)s could not be found.'


class SnapshotNotFound(Invalid):
    msg_fmt = 'Snapshot %(snapshot_id)s could not be found.'


class MultiattachNotSupportedOldMicroversion(Invalid):
    msg_fmt = ('Multiattach volumes are only supported starting with '
               'compute API version 2.60.')


class TooManyDiskDevices(BlockflowError):
    msg_fmt = ('The maximum allowed number of disk devices (%(maximum)d) to '
               'attach to a single instance has been exceeded.')
    http_status = 403


class InvalidAPIVersionString(Invalid):
    """A microversion that is not MajorNum.MinorNum (Nova's wsgi answers 400)."""

    msg_fmt = ('API Version String %(version)s is of invalid format. Must '
               'be of format MajorNum.MinorNum.')


class InvalidGlobalAPIVersion(BlockflowError):
    """A microversion outside Nova's range (Nova's wsgi answers 406)."""

    msg_fmt = ('Version %(req_ver)s is not supported by the API. Minimum '
               'is %(min_ver)s and maximum is %(max_ver)s.')
    http_status = 406


# The name this class had before it took Nova's.
VersionNotSupported = InvalidGlobalAPIVersion


class HTTPRequestEntityTooLarge(BlockflowError):
    """A body over oslo.middleware's max_request_body_size (413 before Nova sees it)."""

    msg_fmt = ('Request is too large. Larger than max_request_body_size '
               '(%(limit)s).')
    http_status = 413


# --- errors of the block-device pipeline itself (later stages) ---------------

class BlockDevicePrepError(BlockflowError):
    msg_fmt = 'Block device preparation failed: %(reason)s'
    http_status = 500


class VolumeNotCreated(BlockDevicePrepError):
    msg_fmt = ('Volume %(volume_id)s did not finish being created even after '
               'we waited %(seconds)s seconds or %(attempts)s attempts. And '
               'its status is %(volume_status)s.')
