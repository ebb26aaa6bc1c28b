console.log(`node plan in ${process.cwd()}, PLAN_DIR=${process.env.PLAN_DIR}`)
