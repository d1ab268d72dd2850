"""Group buying (拼团): a customer opens a group at the group price by paying; it succeeds when N
members have paid within the time limit, otherwise every paid member is refunded automatically."""
