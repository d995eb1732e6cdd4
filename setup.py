"""What pyproject.toml cannot say: the top-level ``templates/`` folder ships inside the package.

The user-facing templates (the judge prompt, the generator's prompt, the dimensions example, the config and
the secrets example) have one home, ``templates/`` at the top of the repository. A wheel carries them as
``sheetsync/templates/``, where ``importlib.resources`` finds them; a source checkout (an editable install)
reads ``templates/`` in place (``sheetsync.workspace.template_text``).
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithTemplates(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads templates/ where it is
        target = Path(self.build_lib, "sheetsync", "templates")
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted(Path(__file__).parent.joinpath("templates").iterdir()):
            if source.is_file():
                self.copy_file(str(source), str(target / source.name))


setup(cmdclass={"build_py": BuildPyWithTemplates})
