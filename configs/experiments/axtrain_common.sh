# Shared by axtrain-fig6.sh and axtrain-fig7.sh (sourced, not run): common knobs and the resumable
# `train DIR CONFIG [-p ...]` step. Knobs (environment): AXSIM (build/tools/axsim), THREADS (2),
# SEEDS ("1 2 3"), EPOCHS (10 per model), ACT_EPOCHS (7: AxTrain = 7 act + 3 pas epochs).
AXSIM=${AXSIM:-build/tools/axsim}
THREADS=${THREADS:-2}  # OpenMP threads per run; use 1 on a loaded machine (2 threads oversubscribe badly)
SEEDS=${SEEDS:-"1 2 3"}
EPOCHS=${EPOCHS:-10}
ACT_EPOCHS=${ACT_EPOCHS:-7}
DATA=mnist:data/mnist:test
start=$(date +%s)

# Finished runs (model.safetensors present) are not retrained, so an interrupted script resumes.
train() {  # dir config args...
  local dir=$1 cfg=$2
  shift 2
  [[ -f $dir/model.safetensors ]] || "$AXSIM" train "$cfg" -o "$dir" -q -p training.epochs="$EPOCHS" -p training.threads="$THREADS" "$@"
}
