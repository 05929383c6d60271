"""Step 2 of the starter pipeline: train and save the model."""

import argparse

from components import train

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
parser.add_argument("--model", required=True)
parser.add_argument("--alpha", type=float, default=1.0)
args = parser.parse_args()

metrics = train(args.data, args.model, args.alpha)
print(f"trained ridge(alpha={metrics['alpha']}): r2={metrics['r2']:.3f} rmse={metrics['rmse']:.1f}")
