//! Tests of the Bedrock translation.
