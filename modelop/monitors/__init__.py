"""ModelOp-compatible monitors: performance, bias, drift, stability, volumetrics.

Every monitor method returns ModelOp's "Monitor Output Structure": flat scalar keys (auc,
<feature>_ks_pvalue, ...) and one category array (performance, bias, data_drift,
concept_drift, stability, volumetrics) holding one test object {"test_name",
"test_category", "test_type", "test_id", "values"}. Results combine with
modelop.utils.merge.

Unsure: whether ModelOp's own methods return that dict or the bare test object (some
monitors read result["values"]). Both work here: a result answers the test object's keys
(values, test_name, ...) with those of its single test.
"""
