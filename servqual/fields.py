"""The fields of the JSON results (contract §4), in the order they are written.

The tables of :class:`servqual.results.Results` are tidy DataFrames whose column names are
these field names; ``to_json()`` selects and orders them with the lists here, and a field a
table lacks (not computable for the run) is written as null.
"""

GAP_FIELDS = ["n", "expectation_mean", "perception_mean", "gap_mean", "gap_sd", "gap_se",
              "gap_ci95_low", "gap_ci95_high", "t", "df", "p_value", "p_adjusted", "dz",
              "gap_median", "wilcoxon_z", "wilcoxon_p", "wilcoxon_p_adjusted",
              "expectation_sd", "perception_sd", "gap_mean_unweighted", "n_effective",
              "perception_se", "perception_ci95_low", "perception_ci95_high", "gap_n"]
BOX_FIELDS = [f"{box}_{k}" for box in ("top2", "bottom2") for k in ("share", "ci95_low",
                                                                     "ci95_high")]
ITEM_FIELDS = ["item", "dimension"] + GAP_FIELDS + ["importance_mean", "importance_n"] + \
    BOX_FIELDS + ["top2_change", "top2_change_p", "top2_change_p_adjusted", "perception_counts"]
DIMENSION_FIELDS = ["dimension"] + GAP_FIELDS + [
    "alpha_expectation", "alpha_perception", "alpha_gap", "importance_weight", "msa_mean",
    "servperf_mean"]
BY_WAVE_FIELDS = ["wave", "dimension", "n", "gap_mean", "perception_mean", "expectation_mean",
                  "gap_sd", "gap_ci95_low", "gap_ci95_high", "p_value", "p_adjusted",
                  "importance_weight", "servperf_mean", "perception_ci95_low",
                  "perception_ci95_high"]
BY_WAVE_ITEM_FIELDS = ["wave", "item", "dimension", "n", "gap_mean", "perception_mean",
                       "expectation_mean", "gap_sd", "importance_mean", "top2_share",
                       "bottom2_share", "perception_counts"]
SEGMENT_FIELDS = ["column", "value", "dimension", "n", "gap_mean", "expectation_mean",
                  "perception_mean", "perception_ci95_low", "perception_ci95_high",
                  "gap_sd", "gap_ci95_low", "gap_ci95_high", "p_value",
                  "p_adjusted", "wilcoxon_p", "small_base", "suppressed"]
# every wave's published segment cells of each dimension (the trend small multiples)
SEGMENT_BY_WAVE_FIELDS = ["wave", "column", "value", "dimension", "n", "gap_mean",
                          "perception_mean", "gap_ci95_low", "gap_ci95_high",
                          "perception_ci95_low", "perception_ci95_high", "small_base"]
SEGMENT_ITEM_FIELDS = ["column", "value", "item", "dimension", "n", "gap_mean",
                       "expectation_mean", "perception_mean", "gap_ci95_low", "gap_ci95_high",
                       "p_adjusted", "small_base", "suppressed"]
SEGMENT_TEST_FIELDS = ["column", "dimension", "groups", "kruskal_h", "kruskal_df", "kruskal_p",
                       "welch_f", "welch_df1", "welch_df2", "welch_p"]
TOLERANCE_FIELDS = ["level", "item", "dimension", "n", "desired_mean", "adequate_mean",
                    "perceived_mean", "msa_mean", "mss_mean", "zone_width_mean",
                    "below_adequate_mean", "inside_zone_mean", "above_desired_mean"]
TREND_FIELDS = ["direction", "slope_per_wave", "slope_unit", "slope_unit_length", "slope_ci95_low",
                "slope_ci95_high", "p_value",
                "observed_first", "observed_last",
                "change", "waves", "first", "last", "first_wave", "last_wave", "kendall_tau",
                "kendall_p", "theil_sen_slope", "slope_se", "variance_basis", "p_adjusted",
                "family_p_adjusted", "family_selected"]
WOW_FIELDS = ["previous_wave", "current_wave", "previous_mean", "current_mean", "change",
              "welch_t", "welch_df", "p_value", "p_adjusted", "family_p_adjusted",
              "family_selected", "cohens_d", "alert", "rise_p_adjusted", "rise",
              "common_items_only"]
IPA_FIELDS = ["importance", "importance_source", "performance", "quadrant", "importance_mid",
              "performance_mid", "importance_n", "importance_ci95_low", "importance_ci95_high",
              "quadrant_supported"]
OVERALL_FIELDS = ["servqual_unweighted", "servqual_weighted", "servqual_weighted_n",
                  "servqual_weighted_ci95_low", "servqual_weighted_ci95_high", "servperf",
                  "servperf_n", "servperf_ci95_low", "servperf_ci95_high", "servperf_weighted",
                  "overall_satisfaction"]
