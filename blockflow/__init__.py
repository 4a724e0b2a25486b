"""blockflow: Nova's block-device preparation as persisted, parallel TaskFlow flows."""

import warnings

# os-brick and oslo.service still import eventlet, which warns on import; the
# warning says nothing actionable to a blockflow user.
warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
