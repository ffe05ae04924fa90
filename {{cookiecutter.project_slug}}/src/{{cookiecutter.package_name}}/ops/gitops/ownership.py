"""Which paths are yours: template updates never touch them (`.cruft.json` "skip").

The README's "What is where" table says the same in words. Standard library only: the template's
post-generation hook reads this list to write `.cruft.json`.
"""

USER_OWNED = (
    "mlops.yaml",
    "src/{{ cookiecutter.package_name }}/model",
    "data",
    "docs/deploy",
)
