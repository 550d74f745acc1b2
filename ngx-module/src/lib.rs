//! placeholder
use ngx as _;
use tollgate_core as _;
