"""blockflow: Nova's block-device preparation as persisted, parallel TaskFlow flows."""
