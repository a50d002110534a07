"""moc: the command center's command line. It talks to the server's REST API only."""

from __future__ import annotations
