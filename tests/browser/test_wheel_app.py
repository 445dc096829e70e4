"""``finlab app`` from the wheel installed with the app extra: no clone, no notebooks/ folder."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

try:
    import browserkit as kit
except ImportError:  # pragma: no cover - imported as a package
    from tests.browser import browserkit as kit  # type: ignore[no-redef]


@pytest.mark.browser
@pytest.mark.slow
def test_the_app_runs_from_the_installed_wheel(
    wheel_venv: Callable[[str], Path], watched: kit.Tab, tmp_path: Path
) -> None:
    bin_dir = wheel_venv("app")
    where = [bin_dir / "python", "-c", "import finlab; print(finlab.__file__)"]
    found = subprocess.run(where, cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert found.startswith(str(bin_dir.parent))  # the wheel's finlab, not this checkout's
    port, home, token = kit.free_port(), tmp_path / "home", kit.new_token()
    home.mkdir()
    command = [str(bin_dir / "finlab"), "app", "--port", str(port)]
    server = kit.Server.start(
        "voila-wheel",
        command,
        home=home,
        port=port,
        token=token,
        ready_path=None,
        env={"JUPYTER_TOKEN": token},
    )
    try:
        page = watched.page
        page.goto(server.url("/"), timeout=kit.RUN_TIMEOUT_MS)
        failed = page.get_by_text("There was an error when executing cell")
        page.locator(".finlab-app").or_(failed).wait_for(timeout=kit.RUN_TIMEOUT_MS)
        kit.step("app shown")

        assert [] == kit.kernel_tracebacks(server, 0)
        assert "Demo account" in page.locator(".finlab-app-source").inner_text()
        kit.wait_for_every_chart(page.locator("body"))
        watched.watch.check()
    finally:
        server.stop()
