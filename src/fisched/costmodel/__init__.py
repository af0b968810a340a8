"""The cost model: features, datasets, labels, pack-sum XGBoost, importance and selection, the fi model, the host's library."""
