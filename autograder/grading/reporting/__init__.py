"""Outputs and exports: every file in OUT rebuilt from all the results (scores, gradebook,
feedback pages, formgrader's copies), and the merge of a split student."""
