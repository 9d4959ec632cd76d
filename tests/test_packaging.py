"""The package as setuptools builds it (issue 22, point 10): no "Package would be
ignored" warning, and every file the app needs is in the build."""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_build_warns_of_nothing_and_carries_every_data_file(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    shutil.copy(os.path.join(ROOT, "setup.py"), source)
    for folder in ("backoffice", "templates", "static"):
        shutil.copytree(os.path.join(ROOT, folder), source / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    result = subprocess.run([sys.executable, "setup.py", "build_py", "-d", str(tmp_path / "lib")], cwd=source,
                            capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "would be ignored" not in output, output[-3000:]
    assert "absent from the `packages` configuration" not in output

    built = tmp_path / "lib" / "backoffice"
    expected = []
    for folder in ("backoffice", "templates", "static"):
        top = os.path.join(ROOT, folder)
        for here, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                if name.startswith(".") or name.endswith(".pyc"):
                    continue
                relative = os.path.relpath(os.path.join(here, name), top)
                expected.append(relative if folder == "backoffice" else os.path.join(folder, relative))
    missing = [path for path in expected if not (built / path).is_file()]
    assert missing == []
    for sample in ("translations/ru/LC_MESSAGES/messages.mo", "data/common_passwords.txt", "migrations/0001_initial.py",
                   "templates/plugin/page.html", "static/backoffice.css"):
        assert (built / sample).is_file(), sample
