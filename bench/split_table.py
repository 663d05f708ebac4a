"""Split one table into train/test Parquet files for the parity case of bench/compare.py.

    python bench/split_table.py --data TABLE --train TRAIN.parquet --test TEST.parquet

sklearn train_test_split(test_size=0.2, stratify=churn, random_state=42), so that both
sides train and evaluate on exactly the same rows. Prints {"train_rows", "test_rows"}.
"""

import argparse
import json

import pandas as pd
from sklearn.model_selection import train_test_split

LABEL = "churn"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    args = ap.parse_args()
    df = pd.read_parquet(args.data)
    train, test = train_test_split(df, test_size=0.2, stratify=df[LABEL], random_state=42)
    train.to_parquet(args.train, index=False)
    test.to_parquet(args.test, index=False)
    print(json.dumps({"train_rows": len(train), "test_rows": len(test)}))


if __name__ == "__main__":
    main()
