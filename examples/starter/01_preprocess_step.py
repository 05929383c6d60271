"""Step 1 of the starter pipeline (as in the AML starter template: a thin script over components)."""

import argparse

from components import preprocess

parser = argparse.ArgumentParser()
parser.add_argument("--raw_data", required=True)
parser.add_argument("--config", required=True)
parser.add_argument("--output", required=True)
parser.add_argument("--test_fraction", type=float, default=0.2)
args = parser.parse_args()

summary = preprocess(args.raw_data, args.config, args.output, args.test_fraction)
print(f"prepared {summary['rows']} rows: {summary['train']} train, {summary['test']} test")
