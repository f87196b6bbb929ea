"""evaluate: metrics on the held-out rows, with the pictures the KFP UI draws."""

import math

from mlcd_components.progress import StepError


def classifier_metrics(model, features, labels) -> tuple[dict, dict]:
    from sklearn import metrics

    predicted = model.predict(features)
    scores = {
        "accuracy": metrics.accuracy_score(labels, predicted),
        "f1_macro": metrics.f1_score(labels, predicted, average="macro", zero_division=0),
        "precision_macro": metrics.precision_score(labels, predicted, average="macro", zero_division=0),
        "recall_macro": metrics.recall_score(labels, predicted, average="macro", zero_division=0),
    }
    classes = list(model.classes_)
    pictures = {"classes": [str(c) for c in classes],
                "confusion": metrics.confusion_matrix(labels, predicted, labels=classes).tolist()}
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(features)
        scores["log_loss"] = metrics.log_loss(labels, proba, labels=classes)
        if len(classes) == 2:
            scores["roc_auc"] = metrics.roc_auc_score(labels, proba[:, 1])
            fpr, tpr, thresholds = metrics.roc_curve(labels, proba[:, 1], pos_label=classes[1])
            pictures["roc"] = {"fpr": fpr.tolist(), "tpr": tpr.tolist(),
                               "thresholds": [min(t, 1.0) for t in thresholds.tolist()]}
        elif len(set(labels)) == len(classes):
            scores["roc_auc"] = metrics.roc_auc_score(labels, proba, multi_class="ovr", labels=classes)
    return scores, pictures


def regressor_metrics(model, features, targets) -> dict:
    from sklearn import metrics

    predicted = model.predict(features)
    return {
        "r2": metrics.r2_score(targets, predicted),
        "rmse": math.sqrt(metrics.mean_squared_error(targets, predicted)),
        "mae": metrics.mean_absolute_error(targets, predicted),
    }


def run(model_path: str, test_path: str, target: str, kind: str) -> tuple[dict, dict]:
    """Return (metrics, pictures); pictures hold the confusion matrix and ROC of a classifier."""
    import joblib

    from mlcd_components.train import read_xy

    model = joblib.load(model_path)  # written by this run's own train step, in this pipeline root
    _, features, labels = read_xy(test_path, target)
    if kind == "classifier":
        scores, pictures = classifier_metrics(model, features, labels)
    else:
        scores, pictures = regressor_metrics(model, features, labels), {}
    undefined = sorted(name for name, value in scores.items() if not math.isfinite(float(value)))
    if undefined:
        raise StepError(f"spec.data.testFraction: {', '.join(undefined)} cannot be computed on {len(labels)} test "
                        "rows; hold out more rows or use more data")
    return {k: round(float(v), 6) for k, v in sorted(scores.items())}, pictures


def log_artifacts(metrics_artifact, classification_artifact, scores: dict, pictures: dict) -> None:
    """Fill the KFP Metrics and ClassificationMetrics artifacts the KFP UI draws."""
    for name, value in scores.items():
        metrics_artifact.log_metric(name, value)
    if pictures:
        classification_artifact.log_confusion_matrix(pictures["classes"], pictures["confusion"])
        if "roc" in pictures:
            roc = pictures["roc"]
            classification_artifact.log_roc_curve(roc["fpr"], roc["tpr"], roc["thresholds"])
