"""Task that records each device for teardown."""

from blockflow.persistence import records
from tasks.base import BlockflowTask


class RecordDevice(BlockflowTask):
    """Write the device's block_device_mapping row. Reversion strategy: mark it deleted."""

    def __init__(self, records_url, **kwargs):
        super().__init__(**kwargs)
        self.records_url = records_url

    def execute(self, instance_uuid, device, volume_id=None, attachment_id=None,
                connection_info=None, local_disk=None):
        return records.Records(self.records_url).upsert(
            instance_uuid, device, volume_id=volume_id,
            attachment_id=None if attachment_id == 'legacy' else attachment_id,
            connection_info=connection_info,
            local_path=(local_disk or {}).get('path'))

    def revert(self, result, **kwargs):
        if self.produced(result):
            records.Records(self.records_url).mark_deleted(result)
