"""The few-labels workflow's silver step, switched by the `few_silver` variable.

python scripts/few_silver.py true|false INPUT OUTPUT [cot-distill silver options]

true: `cot-distill silver INPUT OUTPUT OPTIONS` asks the LLM for the entities of the unlabelled docs and stores them
as silver (`doc.spans["silver_ents"]`, their entity tags still missing), which `few-train` trains as gold through
`silver_as_gold`. false: OUTPUT is a copy of INPUT, so the docs train through the teacher alone and no LLM is asked.
A weasel command has no condition of its own; this script is it.
"""
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

from wasabi import msg

from spacy_cot_distill.errors import InputError
from spacy_cot_distill.files import open_atomic

SWITCH = {"true": True, "false": False}


def main(switch: str, input_path: str, output_path: str, *silver_options: str) -> None:
    if switch.lower() not in SWITCH:
        msg.fail(f"few_silver is {switch!r}: set it to true or false", exits=1)
    if SWITCH[switch.lower()]:
        command: List[str] = [sys.executable, "-m", "spacy_cot_distill", "silver", input_path, output_path, *silver_options]
        sys.exit(subprocess.run(command).returncode)
    try:
        with open(input_path, "rb") as source, open_atomic(output_path) as target:
            shutil.copyfileobj(source, target)
    except OSError as err:  # the input: open_atomic reports the output's own errors as InputError
        msg.fail(f"{input_path}: cannot read it ({err.strerror or err})", exits=1)
    except InputError as err:
        msg.fail(str(err), exits=1)
    msg.info(f"few_silver is false: no silver labels; {Path(output_path)} holds the unlabelled docs as they are, "
             "to train through the teacher alone")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        msg.fail("usage: python scripts/few_silver.py true|false INPUT OUTPUT [cot-distill silver options]", exits=1)
    main(*sys.argv[1:])
