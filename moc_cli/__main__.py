from __future__ import annotations

from moc_cli.main import main

main()
