"""The embedded broker: kombu's filesystem transport, with atomic message writes.

kombu's own transport creates the message file and then writes it, so a consumer polling the
folder can move away a file that is still empty. Here a message is written to a side folder
and renamed into the queue folder, so a consumer only ever sees whole messages.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        tmp_dir = os.path.join(self.data_folder_out, "..", "tmp")
        os.makedirs(tmp_dir, exist_ok=True)
        tmp_path = os.path.join(tmp_dir, name)
        with open(tmp_path, "wb") as f:
            f.write(str_to_bytes(dumps(payload)))
        os.replace(tmp_path, os.path.join(self.data_folder_out, name))


class Transport(filesystem.Transport):
    Channel = Channel
