from __future__ import annotations

from rest_framework import serializers

from jobs.scoring_diff import SAMPLE_LIMIT


class ScoringDiffQuerySerializer(serializers.Serializer):
    other = serializers.UUIDField(help_text="job B, the other scoring job (e.g. the challenger)")
    score = serializers.CharField(required=False, allow_blank=True, max_length=200)
    key = serializers.CharField(
        required=False, allow_blank=True, max_length=200,
        help_text="the record id column to join on; by default one named id (or the like) in "
        "both outputs, else the records' order",
    )  # fmt: skip
    segment = serializers.CharField(required=False, allow_blank=True, max_length=200)
    threshold = serializers.FloatField(required=False, default=0.5)


class ScoringDiffSerializer(serializers.Serializer):
    a = serializers.UUIDField()
    b = serializers.UUIDField()
    score_column = serializers.CharField()
    key_column = serializers.CharField(allow_null=True)
    segment_column = serializers.CharField(allow_null=True)
    numeric = serializers.BooleanField()
    threshold = serializers.FloatField(allow_null=True)
    records_compared = serializers.IntegerField()
    records_read = serializers.DictField(child=serializers.IntegerField())
    sample_limit = serializers.IntegerField(
        help_text=f"records read of each output ({SAMPLE_LIMIT})"
    )
    truncated = serializers.BooleanField(help_text="an output had more records than were read")
    unmatched = serializers.DictField(child=serializers.IntegerField())
    agreement_rate = serializers.FloatField(allow_null=True)
    mean_abs_difference = serializers.FloatField(allow_null=True)
    correlation = serializers.FloatField(allow_null=True)
    histogram = serializers.JSONField(help_text="edges (numeric) or labels, and counts a and b")
    top_disagreements = serializers.ListField(child=serializers.DictField())
    segments = serializers.ListField(child=serializers.DictField())
    same_input = serializers.BooleanField()
    columns = serializers.ListField(child=serializers.CharField())
    notes = serializers.ListField(child=serializers.CharField())
